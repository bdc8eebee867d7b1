/** Every fuzz target, in the order `npm run fuzz` runs them. */

import type { FuzzTarget } from '../engine.js';
import { utf8Target } from './utf8.js';

export const TARGETS: readonly FuzzTarget[] = [utf8Target];
