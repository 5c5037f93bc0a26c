#!/usr/bin/env node
// Entry point of the `agora` command: runs the TypeScript sources through tsx's loader,
// so there is no build step between a checkout and a running hub.
import { register } from "tsx/esm/api";
register();
await import("../src/cli/main.ts");
