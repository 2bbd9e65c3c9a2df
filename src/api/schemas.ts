/** TypeBox schemas of the HTTP API (request and response bodies). */
import { Type, type Static } from 'typebox';
import { JOBS_COMPARED, JOBS_LISTED } from '../store/experiments.js';
import { cpcConfigSchema, probeConfigSchema } from './config-schema.js';
import { MAX_NEIGHBOURS } from '../cpc/neighbours.js';

export const ErrorBody = Type.Object(
  {
    error: Type.String({ description: 'HTTP status text' }),
    code: Type.String({
      description:
        'machine-readable and stable (branch on this, not on message): the status’s own (bad_request, unauthenticated, forbidden, ' +
        'not_found, conflict, payload_too_large, unsupported_media_type, unprocessable, too_many_requests, internal, unavailable, ...) ' +
        'or a precise one: validation_failed, invalid_json, invalid_config, invalid_dataset, invalid_image, route_not_found, ' +
        'api_key_required, api_key_invalid, scope_insufficient, auth_failures_exceeded, rate_limited, too_many_streams, ' +
        'too_many_predictions, too_many_downloads, too_many_uploads, idempotency_key_in_flight, idempotency_key_reused, ' +
        'job_not_final, job_in_use, job_not_succeeded, model_version_aliased, no_neighbour_index, queue_unavailable, database_unavailable, ' +
        'database_busy, inference_busy, ingest_busy, handler_timeout, checksum_mismatch, dashboard_not_built',
    }),
    message: Type.String({ description: 'for people: what went wrong and what to do' }),
    details: Type.Optional(Type.Unknown()),
    requestId: Type.String(),
  },
  { $id: 'Error' },
);

export const Deleted = Type.Object(
  {
    jobs: Type.Array(Type.String(), { description: 'the jobs deleted: the ones asked for and their probes' }),
    artifacts: Type.Integer({ description: 'stored files removed with them' }),
  },
  { $id: 'Deleted' },
);

/** a copy of a named schema to change (a description): no longer the named type, so without its title */
function untitled<T extends object>(schema: T): Omit<T, 'title'> {
  const { title: _title, ...rest } = schema as T & { title?: string };
  return rest;
}

/** the largest value a PostgreSQL integer column holds (model versions, seeds) */
export const MAX_INT32 = 2147483647;
/** the deepest page offset the list routes accept (beyond it, narrow the filter instead) */
export const MAX_OFFSET = 1_000_000;

/** a model version: 1 .. MAX_INT32 */
export const Version = Type.Integer({ minimum: 1, maximum: MAX_INT32 });
export const Offset = Type.Integer({ minimum: 0, maximum: MAX_OFFSET, default: 0 });

/**
 * A UUID as PostgreSQL's uuid type takes it: 8-4-4-4-12 hex digits, nothing else. (ajv-formats'
 * "uuid" also accepts a `urn:uuid:` prefix, which PostgreSQL refuses: that was a 500.)
 */
export const Uuid = Type.String({
  pattern: '^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$',
  description: 'a UUID',
});

export const Id = Type.String({ minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9_-]+$' });

export const ExperimentCreate = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    description: Type.Optional(Type.String({ maxLength: 5000 })),
  },
  { additionalProperties: false },
);

const OwnerId = Type.String({ description: 'the owner (tenant) the resource belongs to' });

export const Experiment = Type.Object({
  id: Type.String(),
  ownerId: OwnerId,
  name: Type.String(),
  description: Type.String(),
  createdAt: Type.String({ format: 'date-time' }),
});

/** CPC training configuration: every field optional, defaults as the engine's (derived from src/cpc/config.ts). */
// (titled where they are made, as the job bodies below use copies of them: see the end of this file)
export const CpcJobConfig = Object.assign(cpcConfigSchema(), { title: 'CpcConfig' });

export const ProbeJobConfig = Object.assign(probeConfigSchema(), { title: 'ProbeConfig' });

const Priority = Type.Optional(Type.Integer({ minimum: 0, maximum: 100, description: 'higher runs sooner (default 50)' }));
export const JobDevice = Type.Union([Type.Literal('any'), Type.Literal('gpu'), Type.Literal('cpu')], {
  title: 'JobDevice',
  description: 'the workers it may run on: gpu waits for a GPU worker, cpu never runs on one, any (the default) runs on either',
});

export const DatasetId = Type.String({
  minLength: 1,
  maxLength: 100,
  pattern: '^[A-Za-z0-9_-]+$',
  description: 'a data set (GET /v1/datasets); default: mnist, the built-in MNIST',
});

const SplitCounts = Type.Array(Type.Integer(), { description: 'images per class, in label order' });

export const Dataset = Type.Object({
  id: Type.String(),
  ownerId: Type.Union([OwnerId, Type.Null()], { description: 'null: built in, every owner may use it' }),
  name: Type.String(),
  format: Type.String({ description: 'builtin, idx (the four IDX files) or png-folders (an archive of one folder per class)' }),
  classNames: Type.Array(Type.String(), { description: 'the classes, in label order' }),
  counts: Type.Object({ train: SplitCounts, valid: SplitCounts, test: SplitCounts }),
  images: Type.Object({ train: Type.Integer(), valid: Type.Integer(), test: Type.Integer() }),
  image: Type.Object(
    { width: Type.Integer(), height: Type.Integer(), channels: Type.Integer() },
    { description: 'the uploaded images (the engine trains on each as 28x28 grey)' },
  ),
  split: Type.Object(
    { kind: Type.String({ description: 'files (IDX), folders (train/ and test/ given) or seeded' }), seed: Type.Optional(Type.Integer()) },
    { description: 'how the test and validation splits were made' },
  ),
  checksum: Type.String({ description: 'sha256 naming the content: the same images, labels and classes give the same checksum' }),
  files: Type.Array(Type.Object({ name: Type.String(), bytes: Type.Integer(), sha256: Type.String() })),
  uploadBytes: Type.Union([Type.Integer(), Type.Null()]),
  createdBy: Type.Union([Type.String(), Type.Null()], { description: 'the prefix of the API key that uploaded it' }),
  createdAt: Type.String({ format: 'date-time' }),
});

export const CpcJobCreate = Type.Object(
  {
    kind: Type.Literal('cpc'),
    experimentId: Type.Optional(Uuid),
    config: Type.Optional(CpcJobConfig),
    datasetId: Type.Optional(DatasetId),
    priority: Priority,
    device: Type.Optional(JobDevice),
    probe: Type.Optional({
      ...untitled(ProbeJobConfig),
      description:
        'a probe of the encoder to submit once this job succeeds (its config; {} for the defaults): it joins the same experiment, priority and device',
    }),
  },
  { additionalProperties: false },
);

export const ProbeJobCreate = Type.Object(
  {
    kind: Type.Literal('probe'),
    cpcJobId: Type.String({ minLength: 1, maxLength: 100, description: 'the succeeded CPC job whose encoder is frozen' }),
    experimentId: Type.Optional(Uuid),
    config: Type.Optional(ProbeJobConfig),
    datasetId: Type.Optional({ ...DatasetId, description: "the data set to probe on (default: the CPC job's)" }),
    priority: Priority,
    device: Type.Optional(JobDevice),
  },
  { additionalProperties: false },
);

/** a CPC or a probe job, told apart by `kind` (validated against that branch alone: validation.ts) */
export const JobCreate = Type.Unsafe<Static<typeof CpcJobCreate> | Static<typeof ProbeJobCreate>>({
  // (the discriminator checks objects only: anything else must fail here, not fall through to a branch)
  type: 'object',
  required: ['kind'],
  oneOf: [CpcJobCreate, ProbeJobCreate],
  discriminator: { propertyName: 'kind' },
});

export const JobStatus = Type.Union(
  [Type.Literal('queued'), Type.Literal('running'), Type.Literal('succeeded'), Type.Literal('failed'), Type.Literal('cancelled')],
  { title: 'JobStatus' },
);

export const Artifact = Type.Object({
  id: Type.String(),
  kind: Type.String(),
  name: Type.String(),
  bytes: Type.Integer(),
  sha256: Type.String(),
  createdAt: Type.String({ format: 'date-time' }),
});

export const Metric = Type.Object({
  step: Type.Integer(),
  epoch: Type.Integer(),
  split: Type.String(),
  name: Type.String(),
  value: Type.Number(),
  time: Type.String({ format: 'date-time' }),
});

export const Job = Type.Object({
  id: Type.String(),
  ownerId: OwnerId,
  kind: Type.String(),
  status: JobStatus,
  experimentId: Type.Union([Type.String(), Type.Null()]),
  config: Type.Record(Type.String(), Type.Unknown()),
  configHash: Type.String(),
  seed: Type.Integer(),
  priority: Type.Integer(),
  device: JobDevice,
  datasetId: Type.String({ description: 'the data set it trains or probes on' }),
  progress: Type.Number(),
  step: Type.Integer(),
  totalSteps: Type.Integer(),
  attempts: Type.Integer({
    description:
      'attempts started: every start counts (an error retry, a resume after a crash or a stopping worker, a retry through the API)',
  }),
  crashes: Type.Integer({ description: 'attempts that ended without recording an outcome (worker killed or lost)' }),
  heartbeatAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { description: 'last sign of life of the running attempt' }),
  error: Type.Union([Type.String(), Type.Null()]),
  result: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
  backend: Type.Union([Type.String(), Type.Null()]),
  workerHost: Type.Union([Type.String(), Type.Null()]),
  parentJobId: Type.Union([Type.String(), Type.Null()]),
  pendingProbe: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()], {
    description:
      'the probe (its config) this CPC job submits when it succeeds (kept while it is failed or cancelled, for a retry); null when none was asked for or it was submitted',
  }),
  cancelRequested: Type.Boolean(),
  createdAt: Type.String({ format: 'date-time' }),
  startedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  finishedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});

export const ExperimentStatus = Type.Union(
  [
    Type.Literal('empty'),
    Type.Literal('queued'),
    Type.Literal('running'),
    Type.Literal('succeeded'),
    Type.Literal('partly_failed'),
    Type.Literal('failed'),
    Type.Literal('cancelled'),
  ],
  {
    description:
      'empty (no jobs), queued (none started), running (some running, or some queued while others ended), succeeded (all), partly_failed (all ended, some succeeded, some failed or cancelled), failed (all ended, none succeeded), cancelled (all)',
  },
);

const SeriesValue = Type.Object({
  split: Type.String(),
  name: Type.String(),
  step: Type.Integer(),
  value: Type.Number(),
  goal: Type.Optional(Type.Union([Type.Literal('max'), Type.Literal('min')], { description: 'which end is best' })),
});

const countsOf = (keys: readonly string[]) => Type.Object(Object.fromEntries(keys.map((k) => [k, Type.Integer()])));

export const ExperimentDetail = Type.Intersect([
  Experiment,
  Type.Object({
    status: ExperimentStatus,
    jobCount: Type.Integer(),
    byStatus: countsOf(['queued', 'running', 'succeeded', 'failed', 'cancelled']),
    byKind: countsOf(['cpc', 'probe']),
    progress: Type.Number({ description: 'the share of the work done: an ended job counts whole, others by their progress' }),
    startedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { description: 'when its first job started' }),
    finishedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { description: 'when its last job ended, once all have' }),
    jobs: Type.Array(
      Type.Intersect([
        Job,
        Type.Object({
          latestMetrics: Type.Array(SeriesValue, { description: "each series' latest value" }),
          bestMetrics: Type.Array(SeriesValue, { description: "each loss's lowest and each accuracy's highest value" }),
        }),
      ]),
      {
        description: `the first ${JOBS_LISTED} jobs, oldest first (jobCount counts them all; GET /v1/jobs?experimentId= pages through them)`,
      },
    ),
  }),
]);

export const Comparison = Type.Object({
  metric: Type.Union([Type.String(), Type.Null()], { description: 'the metric the rows are ranked by (<split>/<name>, probe/<name>)' }),
  goal: Type.Union([Type.Literal('max'), Type.Literal('min'), Type.Null()]),
  differing: Type.Array(Type.String(), { description: 'config fields whose values differ between rows' }),
  truncated: Type.Boolean({
    description: `true when the experiment has more than ${JOBS_COMPARED} jobs: only the oldest ${JOBS_COMPARED} are compared`,
  }),
  best: Type.Union([
    Type.Object({
      jobId: Type.String(),
      value: Type.Number(),
      config: Type.Record(Type.String(), Type.Unknown(), { description: 'its differing fields' }),
    }),
    Type.Null(),
  ]),
  rows: Type.Array(
    Type.Object({
      jobId: Type.String(),
      kind: Type.String(),
      status: JobStatus,
      seed: Type.Integer(),
      datasetId: Type.String(),
      probeJobIds: Type.Array(Type.String()),
      config: Type.Record(Type.String(), Type.Unknown()),
      values: Type.Record(Type.String(), Type.Number()),
      rank: Type.Union([Type.Integer(), Type.Null()]),
    }),
  ),
});

const SweepValue = Type.Union([Type.Number(), Type.String({ maxLength: 100 }), Type.Boolean()]);
const SweepField = Type.String({ pattern: '^[A-Za-z][A-Za-z0-9]*(\\.[A-Za-z][A-Za-z0-9]*)?$', maxLength: 100 });
const SweepValues = Type.Array(SweepValue, { minItems: 1, maxItems: 100 });

export const SweepCreate = Type.Object(
  {
    base: Type.Optional(
      Type.Object(
        {
          config: Type.Optional(CpcJobConfig),
          datasetId: Type.Optional(DatasetId),
          priority: Priority,
          device: Type.Optional(JobDevice),
        },
        { additionalProperties: false, description: 'what every point shares' },
      ),
    ),
    grid: Type.Optional(
      Type.Record(SweepField, SweepValues, {
        description: 'config field (learningRate, model.codeSize, ...) -> values: one job per combination',
      }),
    ),
    random: Type.Optional(
      Type.Object(
        {
          trials: Type.Integer({ minimum: 1, maximum: 100 }),
          seed: Type.Optional(
            Type.Integer({ minimum: 0, maximum: 2 ** 31 - 1, description: 'default 0: the same seed draws the same points' }),
          ),
          space: Type.Record(
            SweepField,
            Type.Union([
              Type.Object(
                {
                  min: Type.Number(),
                  max: Type.Number(),
                  scale: Type.Optional(Type.Union([Type.Literal('linear'), Type.Literal('log')])),
                  integer: Type.Optional(Type.Boolean()),
                },
                { additionalProperties: false },
              ),
              Type.Object({ values: SweepValues }, { additionalProperties: false }),
            ]),
          ),
        },
        { additionalProperties: false, description: 'seeded random search: each field drawn from its values or range' },
      ),
    ),
    maxJobs: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 100, default: 20, description: 'the job budget: a larger sweep is refused' }),
    ),
    probe: Type.Optional({
      ...untitled(ProbeJobConfig),
      description: 'probe each point once it succeeds (its config; {} for the defaults)',
    }),
  },
  { additionalProperties: false, description: 'exactly one of grid and random' },
);

export const Sweep = Type.Object({
  experimentId: Type.String(),
  points: Type.Array(Type.Object({ values: Type.Record(Type.String(), SweepValue), jobId: Type.String() })),
});

export const JobDetail = Type.Intersect([
  Job,
  Type.Object({
    latestMetrics: Type.Array(Metric),
    artifacts: Type.Array(Artifact),
  }),
]);

export const Page = <T extends Parameters<typeof Type.Array>[0]>(item: T) =>
  Type.Object({ items: Type.Array(item), total: Type.Integer(), limit: Type.Integer(), offset: Type.Integer() });

export const Pagination = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
    offset: Type.Optional(Offset),
  },
  { additionalProperties: false },
);

export const ModelRegister = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' }),
    jobId: Type.String({ minLength: 1, maxLength: 100, description: 'a succeeded probe job' }),
    head: Type.Optional(Type.Union([Type.Literal('mlp'), Type.Literal('linear')], { description: 'default mlp' })),
  },
  { additionalProperties: false },
);

export const Model = Type.Object({
  ownerId: OwnerId,
  name: Type.String(),
  version: Type.Integer(),
  aliases: Type.Array(Type.String(), { description: 'the aliases that point at this version' }),
  jobId: Type.String(),
  cpcJobId: Type.String(),
  datasetId: Type.String({ description: 'the data set its probe head was trained on' }),
  classNames: Type.Array(Type.String(), { description: 'what its predictions name, in label order' }),
  head: Type.String(),
  metrics: Type.Record(Type.String(), Type.Unknown()),
  createdAt: Type.String({ format: 'date-time' }),
});

export const ModelMetadata = Type.Intersect([
  Model,
  Type.Object({
    input: Type.Object({
      imageSize: Type.Integer({ description: "the encoder's image side" }),
      color: Type.String({ description: 'grey or color: what the encoder was trained on' }),
      instances: Type.String({ description: 'what predict and embed take, in words' }),
      pngSizes: Type.Array(Type.String(), { description: 'PNG sizes taken (WxH)' }),
    }),
    output: Type.Object({
      classes: Type.Integer(),
      embeddingSize: Type.Union([Type.Integer(), Type.Null()], { description: "the encoder's code size (embed's vector length)" }),
    }),
  }),
]);

export const AliasName = Type.String({
  minLength: 1,
  maxLength: 50,
  // (`latest` is taken: a path's version `latest` is always the newest version)
  pattern: '^(?!latest$)[A-Za-z][A-Za-z0-9_-]*$',
  description: 'an alias (production, staging, ...): a letter, then letters, digits, _ or -; not `latest`',
});

/** a version number or an alias */
export const VersionRef = Type.String({
  maxLength: 50,
  pattern: '^([1-9][0-9]{0,9}|[A-Za-z][A-Za-z0-9_-]*)$',
  description: 'a version number, an alias, or `latest` (the newest version)',
});

const Pixel = Type.Number({ minimum: 0, maximum: 255 });
export const ImageInstance = Type.Union([
  Type.Array(Type.Array(Pixel, { minItems: 1, maxItems: 64 }), {
    minItems: 1,
    maxItems: 64,
    description: '28x28 grey, values 0..255 (or 0..1)',
  }),
  Type.Array(Type.Array(Type.Array(Pixel, { minItems: 3, maxItems: 3 }), { minItems: 1, maxItems: 64 }), {
    minItems: 1,
    maxItems: 64,
    description: 'size x size x 3 RGB, values 0..255',
  }),
  Type.Object({ png: Type.String({ maxLength: 2_000_000, description: 'base64 PNG' }) }, { additionalProperties: false }),
]);

const servingFields = {
  instances: Type.Array(ImageInstance, { minItems: 1, maxItems: 256 }),
  version: Type.Optional(Version),
  embedding: Type.Optional(Type.Boolean({ default: false })),
};

export const PredictRequest = Type.Object(
  {
    ...servingFields,
    neighbours: Type.Optional(
      Type.Integer({ minimum: 0, maximum: MAX_NEIGHBOURS, description: 'add this many of the most similar training images' }),
    ),
  },
  { additionalProperties: false },
);

/** (an embedding is the answer itself: no neighbours asked for here) */
export const EmbedRequest = Type.Object(servingFields, { additionalProperties: false });

export const Prediction = Type.Object({
  label: Type.Integer({ minimum: 0, description: "the most probable class's index" }),
  className: Type.String({ description: "the most probable class's name (the model's data set names its classes)" }),
  probabilities: Type.Array(Type.Number(), { minItems: 2, maxItems: 1000, description: 'one per class, in label order' }),
  embedding: Type.Optional(Type.Array(Type.Number())),
  neighbours: Type.Optional(
    Type.Array(
      Type.Object({
        png: Type.String({ description: 'the training image, a 28x28 grey PNG (base64)' }),
        label: Type.Integer({ minimum: 0 }),
        className: Type.String(),
        similarity: Type.Number({ minimum: -1, maximum: 1, description: 'cosine similarity of the embeddings' }),
      }),
      { description: 'the most similar training images, most similar first (when asked for)' },
    ),
  ),
});

export const PredictResponse = Type.Object({ model: Type.String(), version: Type.Integer(), predictions: Type.Array(Prediction) });
export const EmbedResponse = Type.Object({
  model: Type.String(),
  version: Type.Integer(),
  embeddings: Type.Array(Type.Array(Type.Number())),
});

// The named types of the API: each is one component of openapi.yaml, referenced by $ref wherever it
// is used (src/api/openapi-components.ts hoists every titled schema). A title is an annotation only.
for (const [title, schema] of Object.entries({
  Error: ErrorBody,
  Deleted,
  ExperimentCreate,
  Experiment,
  ExperimentDetail,
  ExperimentStatus,
  Comparison,
  SweepCreate,
  Sweep,
  CpcConfig: CpcJobConfig,
  ProbeConfig: ProbeJobConfig,
  JobDevice,
  JobStatus,
  CpcJobCreate,
  ProbeJobCreate,
  JobCreate,
  Job,
  JobDetail,
  Artifact,
  Metric,
  Dataset,
  ModelRegister,
  Model,
  ModelMetadata,
  ImageInstance,
  PredictRequest,
  EmbedRequest,
  Prediction,
  PredictResponse,
  EmbedResponse,
}))
  (schema as { title?: string }).title = title;
