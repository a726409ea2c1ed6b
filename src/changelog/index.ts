export type { Bullet, Changelog, Migration, Release, Section } from './model.js';
export { parseChangelog, type ParseOptions } from './parse.js';
export { loadChangelog, type LoadChangelogOptions } from './load.js';
export { normalizeVersion, selectReleases } from './select.js';
export { BUILTIN_CHANGELOG, DEFAULT_CHANGELOG_BASE_URL, loadDefaultChangelog, newestRelease, updateChangelog } from './snapshot.js';
export { classifyBullet, extractNames, impactBullets, impactSectionOf, type BulletCategory, type ImpactAction, type ImpactBullet, type ImpactName, type ImpactSection, type NameKind } from './impact.js';
