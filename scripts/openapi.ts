// Regenerates openapi.yaml from the route schemas: `npm run openapi`.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openapiYaml } from '../src/api/openapi.js';

writeFileSync(join(import.meta.dirname, '..', 'openapi.yaml'), await openapiYaml());
console.log('wrote openapi.yaml');
