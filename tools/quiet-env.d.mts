// Types for quiet-env.mjs (plain JS so `node scripts/dev.mjs` can import it without tsx).
export declare const quietEnv: NodeJS.ProcessEnv;
