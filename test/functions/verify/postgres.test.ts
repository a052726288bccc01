import { defineVerifySuite } from './suite.ts';

defineVerifySuite('postgresql');
