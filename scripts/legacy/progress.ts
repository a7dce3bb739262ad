// Moved to tools/progress.ts (shared by the operator CLIs); this path stays for the tests that import it.
export * from "../../tools/progress";
