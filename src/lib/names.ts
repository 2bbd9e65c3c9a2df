/** Suggesting the name a person probably meant (config fields, request fields). */

function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length];
}

/** names longer than this are not typos of a field name (and comparing them would cost time) */
const LONGEST_TYPO = 64;

/** the known name closest to `name` (ignoring case), if one is close enough to be a typo of it */
export function closestName(name: string, known: readonly string[]): string | undefined {
  if (name.length > LONGEST_TYPO) return undefined;
  return known
    .map((k) => ({ k, d: editDistance(name.toLowerCase(), k.toLowerCase()) }))
    .sort((a, b) => a.d - b.d)
    .find((c) => c.d <= Math.max(2, Math.floor(name.length / 3)))?.k;
}
