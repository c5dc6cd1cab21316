import type { ContainerStatus, JobSpec, Pod, PodFailurePolicyRule } from './kube-types.js';

export interface PolicyMatch {
  action?: PodFailurePolicyRule['action'];
  /** whether the failure counts toward backoffLimit */
  countFailed: boolean;
  /** set for a FailJob match: the Job's FailureTarget/Failed message */
  failJobMessage?: string;
}

type ExitCodes = NonNullable<PodFailurePolicyRule['onExitCodes']>;

/** The first container (regular, then none: init containers are not simulated) whose non-zero exit code matches. */
function matchOnExitCodes(pod: Pod, requirement: ExitCodes): ContainerStatus | undefined {
  return pod.status?.containerStatuses?.find((status) => {
    const exitCode = status.state.terminated?.exitCode;
    if (exitCode === undefined || exitCode === 0) return false;
    if (requirement.containerName !== undefined && requirement.containerName !== status.name) return false;
    const listed = requirement.values.includes(exitCode);
    return requirement.operator === 'In' ? listed : requirement.operator === 'NotIn' && !listed;
  });
}

function matchOnPodConditions(pod: Pod, patterns: NonNullable<PodFailurePolicyRule['onPodConditions']>) {
  return pod.status?.conditions?.find((c) =>
    patterns.some((p) => p.type === c.type && p.status === c.status),
  );
}

/**
 * Evaluates `spec.podFailurePolicy` against a failed pod, first matching rule wins
 * (kubernetes `pkg/controller/job/pod_failure_policy.go`, `matchPodFailurePolicy`).
 */
export function matchPodFailurePolicy(spec: JobSpec, pod: Pod): PolicyMatch {
  const rules = spec.podFailurePolicy?.rules ?? [];
  const podRef = `${pod.metadata.namespace}/${pod.metadata.name}`;
  for (const [index, rule] of rules.entries()) {
    let failJobMessage: string | undefined;
    if (rule.onExitCodes) {
      const container = matchOnExitCodes(pod, rule.onExitCodes);
      if (!container) continue;
      failJobMessage = `Container ${container.name} for pod ${podRef} failed with exit code ${container.state.terminated!.exitCode} matching ${rule.action} rule at index ${index}`;
    } else if (rule.onPodConditions) {
      const condition = matchOnPodConditions(pod, rule.onPodConditions);
      if (!condition) continue;
      failJobMessage = `Pod ${podRef} has condition ${condition.type} matching ${rule.action} rule at index ${index}`;
    } else {
      continue;
    }
    if (rule.action === 'Ignore') return { action: 'Ignore', countFailed: false };
    if (rule.action === 'FailJob') return { action: 'FailJob', countFailed: true, failJobMessage };
    return { action: rule.action, countFailed: true };
  }
  return { countFailed: true };
}
