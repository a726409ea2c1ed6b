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

/** A release as a format parser reads it; migrations are derived from it in one place (parse.ts). */
export type ReleaseEntry = Omit<Release, 'migrations'>;

export interface Changelog {
  source: string;
  format: 'rst' | 'md';
  /** Ascending by semver (never by date: dates in the real file are not monotonic). */
  releases: Release[];
}
