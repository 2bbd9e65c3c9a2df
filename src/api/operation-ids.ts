/**
 * operationIds for openapi.yaml, in one table (client generators name their
 * methods after them): every documented route has one, and openapi.test.ts
 * checks that none is missing or repeated.
 */
import type { FastifyInstance } from 'fastify';

const OPERATION_IDS: Record<string, string> = {
  'GET /metrics': 'getPrometheusMetrics',
  'GET /healthz': 'getLiveness',
  'GET /readyz': 'getReadiness',
  'GET /v1/info': 'getServiceInfo',
  'POST /v1/experiments': 'createExperiment',
  'GET /v1/experiments': 'listExperiments',
  'GET /v1/experiments/:id': 'getExperiment',
  'DELETE /v1/experiments/:id': 'deleteExperiment',
  'GET /v1/experiments/:id/events': 'streamExperimentEvents',
  'GET /v1/experiments/:id/compare': 'compareExperimentJobs',
  'POST /v1/experiments/:id/sweeps': 'submitSweep',
  'POST /v1/datasets': 'uploadDataset',
  'GET /v1/datasets': 'listDatasets',
  'GET /v1/datasets/:id': 'getDataset',
  'DELETE /v1/datasets/:id': 'deleteDataset',
  'GET /v1/datasets/:id/preview.png': 'getDatasetPreview',
  'POST /v1/jobs': 'submitJob',
  'GET /v1/jobs': 'listJobs',
  'GET /v1/jobs/:id': 'getJob',
  'DELETE /v1/jobs/:id': 'deleteJob',
  'GET /v1/jobs/:id/metrics': 'listJobMetrics',
  'POST /v1/jobs/:id/cancel': 'cancelJob',
  'POST /v1/jobs/:id/retry': 'retryJob',
  'GET /v1/jobs/:id/events': 'streamJobEvents',
  'GET /v1/jobs/:id/logs': 'getJobLogs',
  'GET /v1/jobs/:id/samples.png': 'getJobSamples',
  'GET /v1/jobs/:id/plots/curves.svg': 'getJobCurvesSvg',
  'GET /v1/jobs/:id/plots/curves.png': 'getJobCurvesPng',
  'GET /v1/artifacts/:id': 'downloadArtifact',
  'POST /v1/models': 'registerModel',
  'GET /v1/models': 'listModels',
  'GET /v1/models/:name/versions': 'listModelVersions',
  'GET /v1/models/:name/versions/:ref': 'getModelVersion',
  'DELETE /v1/models/:name/versions/:ref': 'deleteModelVersion',
  'GET /v1/models/:name/versions/:ref/metadata': 'getModelMetadata',
  'PUT /v1/models/:name/aliases/:alias': 'setModelAlias',
  'DELETE /v1/models/:name/aliases/:alias': 'removeModelAlias',
  'POST /v1/models/:name/predict': 'predict',
  'POST /v1/models/:name/embed': 'embed',
  'POST /v1/models/:name/versions/:ref/predict': 'predictWithVersion',
  'POST /v1/models/:name/versions/:ref/embed': 'embedWithVersion',
};

/** give each route registered from here on its operationId (HEAD routes are not documented) */
export function nameOperations(app: FastifyInstance): void {
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    if (methods.length !== 1 || methods[0] === 'HEAD' || route.schema?.hide) return;
    const id = OPERATION_IDS[`${methods[0]} ${route.url}`];
    if (id) route.schema = { ...route.schema, operationId: id };
  });
}
