// The one runtime import of Kysely, loaded as CommonJS.
//
// Why: `agora` runs its TypeScript through tsx's ES-module loader, and on Node 20 every ES
// module a process imports crosses to the loader's thread and back. Kysely's ES build is some
// 280 files: importing it took ~0.8 s of an `agora token list`'s 1.6 s, against ~0.15–0.25 s for
// its CommonJS build, which Node's require() loads without the loader. Both builds are the same
// library; importing "kysely" as an ES module anywhere else would load a second copy, so every
// other file takes its values from here (types may still come from "kysely" itself).

import { createRequire } from "node:module";

const kysely = createRequire(import.meta.url)("kysely") as typeof import("kysely");

export const { Kysely, SqliteDialect, sql } = kysely;
export type Kysely<DB> = import("kysely").Kysely<DB>;
