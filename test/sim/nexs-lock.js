// The sim's nexslock (Synapse's Cell.nexslock, an asyncio.Lock): nexus entries are recorded and applied under it, and
// a backup holds it while it copies the envs, so the copy's nexus index and its layers agree. Waiters queue; none fail.

export class NexsLock {
  /** @type {Promise<unknown>} */
  #tail = Promise.resolve();

  /**
   * Runs `work` once every earlier holder is done; resolves (or rejects) with its outcome.
   * @template T @param {() => T | Promise<T>} work @returns {Promise<T>}
   */
  run(work) {
    const result = this.#tail.then(work);
    this.#tail = result.catch(() => undefined);
    return result;
  }
}
