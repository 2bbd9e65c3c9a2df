/** The API's answers, as far as the dashboard reads them (openapi.yaml has the whole shapes). */
export interface Page<T> {
  items: T[];
  total: number;
}

export interface Metric {
  step: number;
  epoch: number;
  split: string;
  name: string;
  value: number;
}

export interface Artifact {
  id: string;
  kind: string;
  name: string;
  bytes: number;
}

export interface ProbeScores {
  linear: number;
  mlp: number;
}

export interface Job {
  id: string;
  kind: 'cpc' | 'probe';
  status: string;
  experimentId: string | null;
  config: Record<string, unknown>;
  seed: number;
  device: string;
  datasetId: string;
  progress: number;
  step: number;
  totalSteps: number | null;
  attempts: number;
  error: string | null;
  result: Record<string, unknown> | null;
  backend: string | null;
  workerHost: string | null;
  parentJobId: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  latestMetrics?: Metric[];
  artifacts?: Artifact[];
}

export interface Experiment {
  id: string;
  name: string;
  description: string | null;
  createdAt: string;
}

export interface ExperimentDetail extends Experiment {
  status: string;
  progress: number;
  jobCount: number;
  byStatus: Record<string, number>;
  byKind: Record<string, number>;
  jobs: Array<Job & { latestMetrics: Metric[]; bestMetrics: Metric[] }>;
}

export interface Model {
  name: string;
  version: number;
  aliases: string[];
  jobId: string;
  cpcJobId: string;
  datasetId: string;
  classNames: string[];
  head: string;
  metrics: Record<string, unknown>;
  createdAt: string;
}

export interface Dataset {
  id: string;
  name: string;
  format: string;
  classNames: string[];
  images: { train: number; valid: number; test: number };
  image: { width: number; height: number; channels: number };
  createdAt: string;
}

export interface Neighbour {
  /** a 28×28 grey PNG, base64 */
  png: string;
  label: number;
  className: string;
  similarity: number;
}

export interface Prediction {
  label: number;
  className: string;
  probabilities: number[];
  neighbours?: Neighbour[];
}
