/** Database rows -> API bodies (ISO dates, numbers instead of BigInt). */
import type { Artifact, Experiment, Job, MetricPoint, Model } from '../generated/prisma/client.js';
import { ENGINE_ONLY_FIELDS, upgradeStoredConfig } from '../cpc/config.js';
import { filesOf, type DatasetRow } from '../store/datasets.js';

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/**
 * A job's config as a client may send it again: as it runs (a config stored before a field
 * existed, with the value that field takes for it, so sending it back reproduces the run), and
 * without the fields only the service sets (`workers`: each worker uses its own TRAIN_WORKERS),
 * which a request would be refused for.
 */
export function clientConfig(config: unknown): Record<string, unknown> {
  const fields = { ...upgradeStoredConfig(config as Record<string, unknown>) };
  for (const key of ENGINE_ONLY_FIELDS) delete fields[key];
  return fields;
}

export function experimentDto(e: Experiment) {
  return { id: e.id, ownerId: e.ownerId, name: e.name, description: e.description, createdAt: e.createdAt.toISOString() };
}

export function jobDto(j: Job) {
  return {
    id: j.id,
    ownerId: j.ownerId,
    kind: j.kind,
    status: j.status,
    experimentId: j.experimentId,
    config: clientConfig(j.config),
    configHash: j.configHash,
    seed: j.seed,
    priority: j.priority,
    device: j.device,
    datasetId: j.datasetId,
    progress: j.progress,
    step: j.step,
    totalSteps: j.totalSteps,
    attempts: j.attempts,
    crashes: j.crashes,
    heartbeatAt: j.heartbeatAt?.toISOString() ?? null,
    error: j.error,
    result: (j.result as Record<string, unknown> | null) ?? null,
    backend: j.backend,
    workerHost: j.workerHost,
    parentJobId: j.parentJobId,
    pendingProbe: (j.probeAfter as Record<string, unknown> | null) ?? null,
    cancelRequested: j.cancelRequested,
    createdAt: j.createdAt.toISOString(),
    startedAt: iso(j.startedAt),
    finishedAt: iso(j.finishedAt),
  };
}

export function datasetDto(d: DatasetRow) {
  const counts = d.counts as { train: number[]; valid: number[]; test: number[] };
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const split = d.split as { kind: string; seed?: number };
  return {
    id: d.id,
    ownerId: d.ownerId,
    name: d.name,
    format: d.format,
    classNames: d.classNames,
    counts,
    images: { train: sum(counts.train), valid: sum(counts.valid), test: sum(counts.test) },
    image: { width: d.imageWidth, height: d.imageHeight, channels: d.channels },
    split: { kind: split.kind, ...(split.seed !== undefined ? { seed: split.seed } : {}) },
    checksum: d.checksum,
    files: filesOf(d).map((f) => ({ name: f.name, bytes: f.bytes, sha256: f.sha256 })),
    uploadBytes: d.uploadBytes === null ? null : Number(d.uploadBytes),
    createdBy: d.createdBy,
    createdAt: d.createdAt.toISOString(),
  };
}

export function artifactDto(a: Artifact) {
  return { id: a.id, kind: a.kind, name: a.name, bytes: Number(a.bytes), sha256: a.sha256, createdAt: a.createdAt.toISOString() };
}

export function metricDto(m: MetricPoint) {
  return { step: m.step, epoch: m.epoch, split: m.split, name: m.name, value: m.value, time: m.time.toISOString() };
}

type ModelWithJob = Model & {
  job: { parentJobId: string | null; datasetId: string; result: unknown; parent?: { config: unknown } | null };
  aliases?: Array<{ alias: string }>;
};

export function modelDto(m: ModelWithJob) {
  const classNames = (m.job.result as { classNames?: unknown } | null)?.classNames;
  return {
    ownerId: m.ownerId,
    name: m.name,
    version: m.version,
    aliases: (m.aliases ?? []).map((a) => a.alias),
    jobId: m.jobId,
    cpcJobId: m.job.parentJobId ?? '',
    datasetId: m.job.datasetId,
    // (probes from before data sets had names answered the digits)
    classNames: Array.isArray(classNames) ? classNames.map(String) : Array.from({ length: 10 }, (_, i) => String(i)),
    head: m.head,
    metrics: m.metrics as Record<string, unknown>,
    createdAt: m.createdAt.toISOString(),
  };
}

/** what a client needs to call a model: its input, its outputs, where it came from */
export function modelMetadataDto(m: ModelWithJob) {
  const config = (m.job.parent?.config ?? {}) as { imageSize?: number; color?: string; model?: { codeSize?: number } };
  const size = config.imageSize ?? 28;
  const source = (m.job.result as { sourceImage?: { width: number; height: number } } | null)?.sourceImage;
  const pngSizes = [...new Set(['28x28', `${size}x${size}`, ...(source ? [`${source.width}x${source.height}`] : [])])];
  const dto = modelDto(m);
  return {
    ...dto,
    input: {
      imageSize: size,
      color: config.color ?? 'grey',
      instances: `28x28 grey arrays (0-255), ${size}x${size}x3 RGB arrays, or {png: base64} of ${pngSizes.join(', ')}`,
      pngSizes,
    },
    output: { classes: dto.classNames.length, embeddingSize: config.model?.codeSize ?? null },
  };
}
