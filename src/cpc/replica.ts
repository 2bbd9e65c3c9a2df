/**
 * One replica of a training run: the network, its optimizer, and the collective that joins it
 * to its data-parallel peers (SOLO when it trains alone). A step takes the replica whole, so
 * the collective reaches the ops that need it (synchronised batch norm, gathered codes, summed
 * gradients) through the pass options, not an argument threaded through every signature.
 */
import type { CpcNetwork } from './model.js';
import type { Adam } from './adam.js';
import { SOLO, type Collective } from './parallel/collective.js';

export class Replica {
  constructor(
    readonly network: CpcNetwork,
    readonly optimizer: Adam,
    readonly collective: Collective = SOLO,
  ) {}
}
