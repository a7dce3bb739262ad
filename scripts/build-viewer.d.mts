// Types for build-viewer.mjs (plain JS so wrangler's [build] can run it with node alone).
export declare const VIEWER_ENTRY: string;
export declare const VIEWER_BUNDLE: string;
export declare function buildViewer(): Promise<{ path: string; bytes: number; changed: boolean }>;
