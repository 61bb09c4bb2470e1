/** The release of profs (`profs --version`; package.json carries the same number). */
export const PROFS_VERSION = "0.1.0";
