/**
 * The viewer's browser bundle, dist/viewer/viewer.js.txt, built from src/viewer/client/ by
 * scripts/build-viewer.mjs and imported as text (wrangler's default module rule for *.txt).
 */
declare module "*/dist/viewer/viewer.js.txt" {
  const source: string;
  export default source;
}
