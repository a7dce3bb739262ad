// Moved to tools/sqlite-file.ts (shared by the import tool and its tests); this path stays for the tests that import it.
export * from "../../tools/sqlite-file";
