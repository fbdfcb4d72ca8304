export * as cli from "./cli.js";
export * as clocks from "./clocks.js";
export * as filesystem from "./filesystem.js";
export * as http from "./http.js";
export * as io from "./io.js";
export * as random from "./random.js";
export * as sockets from "./sockets.js";
