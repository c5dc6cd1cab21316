import { randomBytes } from 'node:crypto';
import type { Logger } from '../../../logger.js';
import type { SimClock } from '../clock.js';
import { requestDeletion } from '../deletion.js';
import type { ObjectStore, StoreChange } from '../store.js';
import { isTerminal } from './job-pods.js';
import { keyOf, splitKey, type Pod } from './kube-types.js';
import { DEFAULT_RULE_SECONDS, ruleFor, targetContainer, type KubeletRule } from './kubelet-rules.js';
import type { PodLogs } from './pod-logs.js';
import { renderPodStatus, type ContainerRuntime, type PodView } from './pod-status.js';
import { WorkQueue } from './work-queue.js';

/** Simulated time from admission to the containers starting (sandbox, image already present). */
const CREATE_MS = 500;
/** From ErrImagePull to ImagePullBackOff. */
const PULL_BACKOFF_MS = 2000;
/** How long a container takes to exit on SIGTERM; a `hang` container ignores it and is killed after the grace period. */
const STOP_MS = 1000;
const CRASH_BACKOFF_BASE_MS = 10_000;
const CRASH_BACKOFF_MAX_MS = 300_000;
const HOST_IP = '172.18.0.2';

interface PodRuntime extends PodView {
  uid: string;
  key: string;
  rule: KubeletRule;
  target: string;
  timers: Set<NodeJS.Timeout>;
  /** containers being stopped because the pod is being deleted */
  killing: boolean;
}

function containerID(): string {
  return `containerd://${randomBytes(32).toString('hex')}`;
}

function evictionMessage(container: string): string {
  return (
    'The node was low on resource: memory. Threshold quantity: 100Mi, available: 51200Ki. ' +
    `Container ${container} was using 2097152Ki, request is 0, has larger consumption of memory. `
  );
}

/**
 * The kubelet of the simulated node: runs the pods bound to it as the first matching KubeletRule
 * says, and reports their status as the kubelet's `generateAPIPodStatus` shapes it.
 *
 * Multi-container pods: the rule acts on one container (`container`, default the first); every
 * other container is a sidecar that runs until that one ends for good and then exits 0 with it, so
 * that a build container plus a monitoring sidecar terminates like a pod with a native sidecar. Only
 * the rule's container is restarted under restartPolicy OnFailure (crash back-off 10 s doubling to
 * 5 min, the first restart at once). Deletion sends SIGTERM: containers exit 143 after a second,
 * except a `hang` container, killed (137) when the grace period ends; the pod is then deleted with
 * grace 0, and leaves the store once its finalizers are gone.
 */
export class Kubelet {
  private readonly queue: WorkQueue;
  private readonly pods = new Map<string, PodRuntime>();
  private podIPs = 0;

  constructor(
    private readonly store: ObjectStore,
    private readonly clock: SimClock,
    private readonly logs: PodLogs,
    private readonly rules: () => readonly KubeletRule[],
    logger: Logger,
  ) {
    this.queue = new WorkQueue(clock, (key) => this.sync(key), logger.child({ controller: 'kubelet' }));
    store.on('change', this.onChange);
    for (const pod of store.list('pods').items) this.queue.add(keyOf(pod));
  }

  stop(): void {
    this.store.off('change', this.onChange);
    this.queue.stop();
    for (const rt of this.pods.values()) this.forget(rt);
  }

  private readonly onChange = (change: StoreChange): void => {
    if (change.resource === 'pods') this.queue.add(keyOf(change.object));
  };

  private sync(key: string): void {
    const [namespace, name] = splitKey(key);
    const pod = this.store.tryGet('pods', namespace, name) as Pod | undefined;
    let rt = this.pods.get(key);
    if (rt && rt.uid !== pod?.metadata.uid) {
      this.forget(rt);
      rt = undefined;
    }
    if (!pod?.spec.nodeName) return;
    if (!rt) {
      if (isTerminal(pod)) return this.finalDelete(pod);
      rt = this.admit(pod);
    }
    if (pod.metadata.deletionTimestamp && !rt.killing)
      this.kill(rt, pod.metadata.deletionGracePeriodSeconds ?? 0);

    const status = renderPodStatus(rt, pod.status, this.clock.timestamp(), (ms) => this.clock.timestamp(ms));
    if (JSON.stringify(status) !== JSON.stringify(pod.status)) {
      this.store.mutate('pods', namespace, name, (obj) => {
        obj.status = status;
      });
    }
    if (pod.metadata.deletionTimestamp && isTerminal({ ...pod, status })) this.finalDelete(pod);
  }

  /** Containers are stopped: hand the grace period back so the pod can go (once its finalizers are gone). */
  private finalDelete(pod: Pod): void {
    if (!pod.metadata.deletionTimestamp || pod.metadata.deletionGracePeriodSeconds === 0) return;
    requestDeletion(this.store, this.clock, 'pods', pod.metadata.namespace, pod.metadata.name!, {
      gracePeriodSeconds: 0,
    });
  }

  private forget(rt: PodRuntime): void {
    for (const timer of rt.timers) this.clock.clearTimeout(timer);
    for (const c of rt.containers) for (const run of [c.current, c.previous]) if (run) this.logs.drop(run.id);
    this.pods.delete(rt.key);
  }

  /** Runs `fn` after `simMs`, then reports the pod's status. */
  private after(rt: PodRuntime, simMs: number, fn: () => void): void {
    const timer = this.clock.setTimeout(() => {
      rt.timers.delete(timer);
      fn();
      this.queue.add(rt.key);
    }, simMs);
    rt.timers.add(timer);
  }

  private cancelTimers(rt: PodRuntime): void {
    for (const timer of rt.timers) this.clock.clearTimeout(timer);
    rt.timers.clear();
  }

  private admit(pod: Pod): PodRuntime {
    const rule = ruleFor(this.rules(), pod);
    const n = this.podIPs++;
    const rt: PodRuntime = {
      uid: pod.metadata.uid!,
      key: keyOf(pod),
      rule,
      target: targetContainer(rule, pod),
      timers: new Set(),
      killing: false,
      containers: pod.spec.containers.map((c) => ({
        name: c.name,
        image: c.image ?? '',
        waiting: { reason: 'ContainerCreating' },
        restartCount: 0,
      })),
      restartPolicy: pod.spec.restartPolicy ?? 'Always',
      done: false,
      hostIP: HOST_IP,
      podIP: `10.244.${Math.floor(n / 250) % 250}.${(n % 250) + 2}`,
      startTime: this.clock.timestamp(),
    };
    this.pods.set(rt.key, rt);
    this.after(rt, CREATE_MS, () => this.startContainers(rt));
    return rt;
  }

  private startContainers(rt: PodRuntime): void {
    const seconds = (rt.rule.seconds ?? DEFAULT_RULE_SECONDS) * 1000;
    for (const c of rt.containers) {
      if (c.name === rt.target && rt.rule.action === 'pullError') this.failPull(rt, c);
      else this.start(rt, c);
    }
    if (rt.rule.action === 'evict') this.after(rt, seconds, () => this.evict(rt));
    if (rt.rule.action === 'preempt') this.after(rt, seconds, () => this.preempt(rt));
  }

  /** The image never pulls: ErrImagePull, then ImagePullBackOff for good (the kubelet's back-off caps at 5 min). */
  private failPull(rt: PodRuntime, c: ContainerRuntime): void {
    c.waiting = {
      reason: 'ErrImagePull',
      message: `rpc error: code = NotFound desc = failed to pull and unpack image "${c.image}": failed to resolve reference "${c.image}": ${c.image}: not found`,
    };
    this.after(rt, PULL_BACKOFF_MS, () => {
      c.waiting = { reason: 'ImagePullBackOff', message: `Back-off pulling image "${c.image}"` };
    });
  }

  /** Starts a new run of a container: its log lines on their schedule and, for the rule's container, its exit. */
  private start(rt: PodRuntime, c: ContainerRuntime): void {
    const run = { id: containerID(), startedAt: this.clock.now() };
    c.current = run;
    c.waiting = undefined;
    this.logs.open(run.id);
    for (const line of rt.rule.logs ?? []) {
      if ((line.container ?? rt.target) !== c.name) continue;
      this.after(rt, (line.after ?? 0) * 1000, () => {
        if (c.current === run)
          this.logs.append(run.id, {
            time: new Date(this.clock.now()).toISOString(),
            text: line.text.repeat(line.repeat ?? 1),
          });
      });
    }
    if (c.name !== rt.target) return;
    const seconds = (rt.rule.seconds ?? DEFAULT_RULE_SECONDS) * 1000;
    const exit = {
      succeed: [0, 'Completed'],
      fail: [rt.rule.exitCode ?? 1, 'Error'],
      oom: [137, 'OOMKilled'],
    } as const;
    const action = rt.rule.action;
    if (action === 'succeed' || action === 'fail' || action === 'oom') {
      const [exitCode, reason] = exit[action];
      this.after(rt, seconds, () => this.exited(rt, c, exitCode, reason));
    }
  }

  private exited(rt: PodRuntime, c: ContainerRuntime, exitCode: number, reason: string): void {
    const run = c.current;
    if (!run || run.finishedAt !== undefined) return;
    Object.assign(run, { finishedAt: this.clock.now(), exitCode, reason });
    this.logs.close(run.id);
    if (rt.killing || rt.done || c.name !== rt.target) return;
    const restarts = rt.restartPolicy === 'Always' || (rt.restartPolicy === 'OnFailure' && exitCode !== 0);
    if (restarts) return this.scheduleRestart(rt, c);
    rt.done = true;
    for (const sidecar of rt.containers) if (sidecar !== c) this.exited(rt, sidecar, 0, 'Completed');
  }

  private scheduleRestart(rt: PodRuntime, c: ContainerRuntime): void {
    const delay =
      c.restartCount === 0
        ? 0
        : Math.min(CRASH_BACKOFF_BASE_MS * 2 ** (c.restartCount - 1), CRASH_BACKOFF_MAX_MS);
    if (delay > 0) {
      const [namespace, name] = splitKey(rt.key);
      c.waiting = {
        reason: 'CrashLoopBackOff',
        message: `back-off ${delay / 1000}s restarting failed container=${c.name} pod=${name}_${namespace}(${rt.uid})`,
      };
    }
    this.after(rt, delay, () => {
      c.previous = c.current;
      c.restartCount += 1;
      this.start(rt, c);
    });
  }

  /** Node-pressure eviction: every container killed at once, the pod Failed/Evicted with a DisruptionTarget condition. */
  private evict(rt: PodRuntime): void {
    const message = evictionMessage(rt.target);
    rt.done = true;
    rt.failure = { reason: 'Evicted', message };
    rt.disruption = { type: 'DisruptionTarget', status: 'True', reason: 'TerminationByKubelet', message };
    this.cancelTimers(rt);
    for (const c of rt.containers) this.exited(rt, c, 137, 'Error');
  }

  /** The scheduler preempts the pod: DisruptionTarget, then a graceful delete that the kubelet carries out. */
  private preempt(rt: PodRuntime): void {
    const [namespace, name] = splitKey(rt.key);
    const pod = this.store.tryGet('pods', namespace, name);
    if (!pod || pod.metadata.uid !== rt.uid || pod.metadata.deletionTimestamp) return;
    this.store.mutate('pods', namespace, name, (obj) => {
      const status = (obj as Pod).status ?? {};
      status.conditions = [
        ...(status.conditions ?? []),
        {
          type: 'DisruptionTarget',
          status: 'True',
          lastProbeTime: null,
          lastTransitionTime: this.clock.timestamp(),
          reason: 'PreemptionByScheduler',
          message: 'default-scheduler: preempting to accommodate a higher priority pod',
        },
      ];
      obj.status = status;
    });
    requestDeletion(this.store, this.clock, 'pods', namespace, name, {});
  }

  /** The pod is being deleted: SIGTERM to every running container; nothing restarts any more. */
  private kill(rt: PodRuntime, graceSeconds: number): void {
    rt.killing = true;
    rt.done = true;
    this.cancelTimers(rt);
    for (const c of rt.containers) {
      if (!c.current || c.current.finishedAt !== undefined) continue;
      const ignoresSigterm = c.name === rt.target && rt.rule.action === 'hang';
      const [delay, exitCode] = ignoresSigterm
        ? [graceSeconds * 1000, 137]
        : [Math.min(STOP_MS, graceSeconds * 1000), 143];
      this.after(rt, delay, () => this.exited(rt, c, exitCode, 'Error'));
    }
  }
}
