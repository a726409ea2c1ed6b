import { isReleaseVersion } from '../changelog/version.js';
import { usageError } from '../errors.js';

/** A Synapse release version; anything else is refused before it reaches an image tag, a file or an argv. */
export function assertVersion(version: string): string {
  if (!isReleaseVersion(version)) throw usageError(`not a Synapse version: ${JSON.stringify(version)}`, 'versions look like 2.181.0');
  return version;
}

/** "vertexproject/synapse-cortex:v2.181.0" → "2.181.0"; null for other tags (latest, a digest…). */
export function versionOfImage(image: string | undefined): string | null {
  const match = image ? /:v?(\d+\.\d+\.\d+)(?:@sha256:[0-9a-f]+)?$/.exec(image) : null;
  return match ? match[1]! : null;
}

/** Image reference for a version, the way Vertex tags its images. */
export const imageFor = (image: string, version: string) => `${image}:v${assertVersion(version)}`;

/** The storage dir in Vertex's images, as Synapse's healthcheck names it (`cell:///vertex/storage/`). */
export const CONTAINER_CELL_URL = 'cell:///vertex/storage/';
