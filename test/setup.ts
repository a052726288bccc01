// Shared test set-up: the aws-local-stepfunctions interpreter uses Promise.withResolvers, which Node 20 lacks.
import '../functions/lib/polyfills.ts';
