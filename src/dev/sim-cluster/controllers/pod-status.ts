import { createHash } from 'node:crypto';
import type { Condition, ContainerState, ContainerStatus, PodSpec, PodStatus } from './kube-types.js';

/** One run of a container (a new one per restart). */
export interface ContainerInstance {
  /** `containerd://<64 hex>` */
  id: string;
  startedAt: number;
  finishedAt?: number;
  exitCode?: number;
  reason?: string;
}

/** The kubelet's view of one container of a pod. */
export interface ContainerRuntime {
  name: string;
  image: string;
  /** ContainerCreating, ErrImagePull, ImagePullBackOff, CrashLoopBackOff */
  waiting?: { reason: string; message?: string };
  current?: ContainerInstance;
  previous?: ContainerInstance;
  restartCount: number;
}

/** The kubelet's view of a pod, from which the API status is rendered. */
export interface PodView {
  containers: ContainerRuntime[];
  restartPolicy: PodSpec['restartPolicy'];
  /** the pod is over for good (deleted, evicted): nothing restarts, and it ends Succeeded or Failed */
  done: boolean;
  /** pod-level outcome that overrides the containers' (eviction) */
  failure?: { reason: string; message: string };
  disruption?: Omit<Condition, 'lastProbeTime' | 'lastTransitionTime'>;
  hostIP: string;
  podIP: string;
  startTime: string;
}

type Timestamp = (ms: number) => string;

const UNKNOWN: NonNullable<ContainerState['terminated']> = {
  exitCode: 137,
  reason: 'ContainerStatusUnknown',
  message: 'The container could not be located when the pod was terminated',
};

function imageID(image: string): string {
  const digest = createHash('sha256').update(image).digest('hex');
  const repository = image.replace(/[:@][^/]*$/, '');
  return `${repository.includes('/') ? repository : `docker.io/library/${repository}`}@sha256:${digest}`;
}

function terminated(instance: ContainerInstance, ts: Timestamp): ContainerState {
  return {
    terminated: {
      exitCode: instance.exitCode!,
      reason: instance.reason!,
      startedAt: ts(instance.startedAt),
      finishedAt: ts(instance.finishedAt!),
      containerID: instance.id,
    },
  };
}

function containerStatus(c: ContainerRuntime, done: boolean, ts: Timestamp): ContainerStatus {
  const current = c.current;
  const currentEnded = current?.finishedAt !== undefined;
  let state: ContainerState;
  if (current && !currentEnded) state = { running: { startedAt: ts(current.startedAt) } };
  else if (c.waiting && !done) state = { waiting: c.waiting };
  else if (current) state = terminated(current, ts);
  else state = { terminated: UNKNOWN };
  // a container waiting to restart shows the run that just ended as its last state
  const last = c.waiting && currentEnded && !done ? current : c.previous;
  const running = !!state.running;
  return {
    name: c.name,
    state,
    lastState: last ? terminated(last, ts) : {},
    ready: running,
    restartCount: c.restartCount,
    image: c.image,
    imageID: current ? imageID(c.image) : '',
    ...(current ? { containerID: current.id } : {}),
    started: running,
  };
}

/** The kubelet's `getPhase` for restartPolicy Never/OnFailure (a pod that is done never restarts). */
function phaseOf(statuses: ContainerStatus[], view: PodView): NonNullable<PodStatus['phase']> {
  if (view.failure) return 'Failed';
  let waiting = 0;
  let running = 0;
  let stopped = 0;
  let succeeded = 0;
  for (const s of statuses) {
    if (s.state.running) running++;
    else if (s.state.terminated) {
      stopped++;
      if (s.state.terminated.exitCode === 0) succeeded++;
    } else if (s.lastState.terminated) stopped++;
    else waiting++;
  }
  if (waiting > 0) return 'Pending';
  if (running > 0) return 'Running';
  if (view.restartPolicy === 'Always' && !view.done) return 'Running';
  if (stopped === succeeded) return 'Succeeded';
  return view.restartPolicy === 'Never' || view.done ? 'Failed' : 'Running';
}

/** Keeps a condition's lastTransitionTime while its status stays the same. */
function withTransition(
  condition: Omit<Condition, 'lastProbeTime' | 'lastTransitionTime'>,
  previous: Condition[],
  now: string,
): Condition {
  const { type, status, ...text } = condition;
  const before = previous.find((c) => c.type === type);
  const since = before?.status === status ? before.lastTransitionTime : now;
  return { type, status, lastProbeTime: null, lastTransitionTime: since, ...text };
}

const KUBELET_CONDITIONS = ['DisruptionTarget', 'Initialized', 'Ready', 'ContainersReady'];

/**
 * The pod status the kubelet reports (kubernetes `pkg/kubelet/kubelet_pods.go`): phase, the Initialized/Ready/ContainersReady
 * conditions (PodScheduled and a scheduler's DisruptionTarget are kept as they are), IPs, startTime
 * and one containerStatus per container.
 */
export function renderPodStatus(
  view: PodView,
  current: PodStatus | undefined,
  now: string,
  ts: Timestamp,
): PodStatus {
  const statuses = view.containers.map((c) => containerStatus(c, view.done, ts));
  const phase = phaseOf(statuses, view);
  const terminal = phase === 'Succeeded' || phase === 'Failed';
  const unready = statuses.filter((s) => !s.ready).map((s) => s.name);
  const readiness = terminal
    ? { status: 'False' as const, reason: phase === 'Succeeded' ? 'PodCompleted' : 'PodFailed' }
    : unready.length
      ? {
          status: 'False' as const,
          reason: 'ContainersNotReady',
          message: `containers with unready status: [${unready.join(' ')}]`,
        }
      : { status: 'True' as const };
  const previous = current?.conditions ?? [];
  const kept = previous.filter(
    (c) => !KUBELET_CONDITIONS.includes(c.type) || (c.type === 'DisruptionTarget' && !view.disruption),
  );
  const conditions = [
    ...(view.disruption ? [withTransition(view.disruption, previous, now)] : []),
    withTransition({ type: 'Initialized', status: 'True' }, previous, now),
    withTransition({ type: 'Ready', ...readiness }, previous, now),
    withTransition({ type: 'ContainersReady', ...readiness }, previous, now),
    ...kept,
  ];
  return {
    ...current,
    phase,
    ...(view.failure ?? {}),
    conditions,
    hostIP: view.hostIP,
    podIP: view.podIP,
    startTime: view.startTime,
    containerStatuses: statuses,
  };
}
