import { notFound, StatusError } from '../status.js';
import { RESOURCES, type ObjectStore } from '../store.js';
import type { Pod } from './kube-types.js';

export interface LogEntry {
  /** RFC 3339 with milliseconds, simulated time */
  time: string;
  text: string;
}

/** What the API server's `pods/{name}/log` reads (from the kubelet, `pkg/kubelet/kuberuntime/logs`). */
export interface PodLogSource {
  /**
   * The lines of a container's current (or, with `previous`, its previous) run; `finished` when that
   * run has exited. Throws the API server's errors: 404 for a missing pod, 400 BadRequest for a container that
   * is not valid, not named in a multi-container pod, or waiting to start.
   */
  read(
    namespace: string,
    pod: string,
    container: string | undefined,
    options: { previous?: boolean },
  ): { lines: LogEntry[]; finished: boolean };
  /** Streams the current run's lines (those so far, then new ones) until it exits; returns an unsubscribe. */
  follow(
    namespace: string,
    pod: string,
    container: string | undefined,
    onLine: (line: LogEntry) => void,
    onEnd: () => void,
  ): () => void;
}

interface Listener {
  onLine: (line: LogEntry) => void;
  onEnd: () => void;
}

interface LogBuffer {
  lines: LogEntry[];
  finished: boolean;
  listeners: Set<Listener>;
}

function badRequest(message: string): StatusError {
  return new StatusError(400, 'BadRequest', message);
}

/**
 * Container output by container ID, written by the kubelet; reads resolve a container to an ID
 * through the pod's status the way the kubelet does (`validateContainerLogStatus`).
 */
export class PodLogs implements PodLogSource {
  private readonly buffers = new Map<string, LogBuffer>();

  constructor(private readonly store: ObjectStore) {}

  open(containerID: string): void {
    this.buffers.set(containerID, { lines: [], finished: false, listeners: new Set() });
  }

  append(containerID: string, line: LogEntry): void {
    const buffer = this.buffers.get(containerID);
    if (!buffer || buffer.finished) return;
    buffer.lines.push(line);
    for (const listener of buffer.listeners) listener.onLine(line);
  }

  /** The run exited: followers' streams end. */
  close(containerID: string): void {
    const buffer = this.buffers.get(containerID);
    if (!buffer || buffer.finished) return;
    buffer.finished = true;
    for (const listener of buffer.listeners) listener.onEnd();
    buffer.listeners.clear();
  }

  /** The pod is gone: its logs go with it. */
  drop(containerID: string): void {
    this.close(containerID);
    this.buffers.delete(containerID);
  }

  read(namespace: string, pod: string, container: string | undefined, options: { previous?: boolean }) {
    const id = this.resolve(namespace, pod, container, !!options.previous);
    const buffer = id === undefined ? undefined : this.buffers.get(id);
    return { lines: [...(buffer?.lines ?? [])], finished: buffer?.finished ?? true };
  }

  follow(
    namespace: string,
    pod: string,
    container: string | undefined,
    onLine: (line: LogEntry) => void,
    onEnd: () => void,
  ): () => void {
    const id = this.resolve(namespace, pod, container, false);
    const buffer = id === undefined ? undefined : this.buffers.get(id);
    for (const line of buffer?.lines ?? []) onLine(line);
    if (!buffer || buffer.finished) {
      onEnd();
      return () => {};
    }
    const listener = { onLine, onEnd };
    buffer.listeners.add(listener);
    return () => buffer.listeners.delete(listener);
  }

  /** The container ID to read, or undefined for a pod not yet on a node (the API server then returns nothing). */
  private resolve(
    namespace: string,
    name: string,
    container: string | undefined,
    previous: boolean,
  ): string | undefined {
    const pod = this.store.tryGet('pods', namespace, name) as Pod | undefined;
    if (!pod) throw notFound(RESOURCES.pods, name);
    const names = pod.spec.containers.map((c) => c.name);
    if (container === undefined) {
      if (names.length !== 1) {
        throw badRequest(
          `a container name must be specified for pod ${name}, choose one of: [${names.join(' ')}]`,
        );
      }
      container = names[0]!;
    } else if (!names.includes(container)) {
      throw badRequest(`container ${container} is not valid for pod ${name}`);
    }
    if (!pod.spec.nodeName) return undefined;

    const status = pod.status?.containerStatuses?.find((s) => s.name === container);
    const last = status?.lastState.terminated;
    const prefix = `container "${container}" in pod "${name}"`;
    if (previous) {
      if (!last?.containerID) throw badRequest(`previous terminated ${prefix} not found`);
      return last.containerID;
    }
    const state = status?.state;
    if (state?.running || state?.terminated?.containerID) return status!.containerID;
    if (last?.containerID) return last.containerID;
    if (state?.terminated) throw badRequest(`${prefix} is terminated`);
    const reason = state?.waiting?.reason ?? 'ContainerCreating';
    const why =
      reason === 'ErrImagePull'
        ? "image can't be pulled"
        : reason === 'ImagePullBackOff'
          ? 'trying and failing to pull image'
          : reason;
    throw badRequest(`${prefix} is waiting to start: ${why}`);
  }
}
