import pkg from '../../../package.json' with { type: 'json' };

/** Recorded in every manifest (`tools.lifeboat`). */
export const LIFEBOAT_VERSION: string = pkg.version;
