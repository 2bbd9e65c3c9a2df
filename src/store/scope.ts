/** What a caller may see, and which part of a list it asked for. */

/** the rows a caller may see: an owner's (`{ ownerId }`), or every owner's (`{}`, admin keys and open reads) */
export type Scope = { ownerId?: string };

export interface Page {
  limit: number;
  offset: number;
}
