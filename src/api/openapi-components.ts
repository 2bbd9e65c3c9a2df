/**
 * Named schema components for the OpenAPI document: every schema that carries
 * a `title` (the API's named types, titled at the end of schemas.ts) is
 * written once under components.schemas and referenced by `$ref` everywhere
 * else, so client generators name their types after it and the document does
 * not repeat the error body in every response. Two different schemas with
 * one title are a mistake in schemas.ts, and fail the build of the document.
 */
type Json = unknown;
type Schema = Record<string, Json>;

const isObject = (v: Json): v is Schema => typeof v === 'object' && v !== null && !Array.isArray(v);

export function nameComponents<T extends object>(document: T): T {
  const doc = document as { components?: { schemas?: Record<string, Json> }; paths?: Json };
  const components: Record<string, Schema> = {};
  const seen = new Map<string, string>();

  /** the node with its titled schemas replaced by references, innermost first */
  /** a shared schema's old name, for the one it goes by now */
  const renamed = new Map<string, string>();
  const hoist = (node: Json): Json => {
    if (Array.isArray(node)) return node.map(hoist);
    if (!isObject(node)) return node;
    const out: Schema = {};
    for (const [k, v] of Object.entries(node)) out[k] = hoist(v);
    const ref = typeof out.$ref === 'string' ? /^#\/components\/schemas\/(.+)$/.exec(out.$ref) : null;
    if (ref && renamed.has(ref[1])) return { ...out, $ref: `#/components/schemas/${renamed.get(ref[1])}` };
    const title = out.title;
    if (typeof title !== 'string' || !/^[A-Z][A-Za-z0-9]*$/.test(title)) return out;
    const json = JSON.stringify(out);
    const before = seen.get(title);
    if (before !== undefined && before !== json) throw new Error(`two different schemas are titled ${title}: give one another title`);
    seen.set(title, json);
    components[title] = out;
    return { $ref: `#/components/schemas/${title}` };
  };

  // (the shared schemas already there, by their own names: an untitled one stays as it is)
  const existing = doc.components?.schemas ?? {};
  const kept: Record<string, Json> = {};
  for (const [name, schema] of Object.entries(existing)) {
    const hoisted = hoist(schema);
    if (isObject(hoisted) && typeof hoisted.$ref === 'string') renamed.set(name, hoisted.$ref.split('/').pop()!);
    else kept[name] = hoisted;
  }
  const paths = hoist(doc.paths);
  const schemas = Object.fromEntries(Object.entries({ ...kept, ...components }).sort(([a], [b]) => a.localeCompare(b)));
  return { ...doc, paths, components: { ...doc.components, schemas } } as T;
}
