export interface Section {
  title: string;
  /** Top-level bullets as plain text (nested bullets folded into their parent). */
  bullets: Bullet[];
  /** Paragraphs in the section that are not bullets. */
  prose: string[];
}

export interface Bullet {
  text: string;
  links: string[];
}

export interface Migration {
  version: string;
  date: string | null;
  text: string;
  links: string[];
  /** "WARNING - It is strongly advised to perform a backup…": must stand out. */
  warning: boolean;
  /** From an "Automatic Migrations" section, or found in the prose of an older release. */
  source: 'section' | 'prose';
}

export interface Release {
  version: string;
  date: string | null;
  sections: Section[];
  /** Paragraphs of the entry outside any section. */
  prose: string[];
  migrations: Migration[];
}

/** What a format parser reads from the body of one release entry. */
export type ReleaseBody = Pick<Release, 'sections' | 'prose'>;

/**
 * A release entry as a format parser finds it. Its body is read on first use: a plan looks inside a few of the
 * ~300 releases, and reading them all costs a cold CLI process ~100 ms. Migrations are derived in parse.ts.
 */
export interface ReleaseEntry {
  version: string;
  date: string | null;
  body: () => ReleaseBody;
}

export interface Changelog {
  /** File path or URL, for messages. */
  source: string;
  /** For a URL: the local copy it was read from (fetched once; delete it to fetch again). */
  cachedFile?: string;
  format: 'rst' | 'md';
  /** Ascending by semver (never by date: dates in the real file are not monotonic). */
  releases: Release[];
  /** What is wrong with the file but does not stop a plan (several entries for one release); every plan shows them. */
  warnings?: string[];
}
