/** Types of bundle.mjs (plain JavaScript: it runs without a TypeScript loader). */
export declare function bundleUpToDate(manifestFile: string): string | null;
export declare function buildBundle(entry: string, out: string, manifest: string): Promise<string>;
