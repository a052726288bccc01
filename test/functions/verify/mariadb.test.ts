import { defineVerifySuite } from './suite.ts';

defineVerifySuite('mysql');
