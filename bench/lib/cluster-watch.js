const REQUEST_ID_LABEL = 'kjl.dev/request-id';

const finished = (job) =>
  (job.status?.conditions ?? []).some(
    (c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True',
  );

/**
 * Calls `onCreated(requestId, at)` when a request's Job is stored (ADDED: the moment the API server
 * accepted the create) and `onDone(requestId, at)` when it first finishes, `at` in epoch ms.
 */
export function watchJobs(store, onCreated, onDone) {
  const created = new Set();
  const done = new Set();
  const onChange = (change) => {
    if (change.resource !== 'jobs') return;
    const id = change.object.metadata.labels?.[REQUEST_ID_LABEL];
    if (!id) return;
    const at = Date.now();
    if (change.type === 'ADDED' && !created.has(id)) {
      created.add(id);
      onCreated(id, at);
    }
    if (change.type !== 'DELETED' && finished(change.object) && !done.has(id)) {
      done.add(id);
      onDone(id, at);
    }
  };
  store.on('change', onChange);
  return () => store.off('change', onChange);
}

/** Every Job name the cluster created more than once (must be none). */
export const createdTwice = (stats) => Object.entries(stats.jobsCreated).filter(([, n]) => n > 1);
