import { z } from 'zod';

/**
 * Behaviour of the control plane that changed across Kubernetes releases, settable at start
 * (`startSimCluster({ settings })`) and at runtime (`PUT /sim/settings`; every field optional,
 * omitted ones reset to their default). Example: `{"jobConditions":"1.30","podGC":{"terminated":"immediate"}}`
 */
export const clusterSettingsSchema = z.strictObject({
  /**
   * `1.31`: a finishing Job first gets FailureTarget / SuccessCriteriaMet, and Failed / Complete
   * once its pods are gone. `1.30`: Failed / Complete at once, right after the finished pods'
   * tracking finalizers were removed (FailureTarget only for a podFailurePolicy FailJob match),
   * without waiting for terminating pods.
   */
  jobConditions: z.enum(['1.31', '1.30']).default('1.31'),
  podGC: z
    .strictObject({
      /** `immediate`: pod GC force-deletes every terminated pod at once (a threshold of nothing); `off`: never (the threshold is not reached) */
      terminated: z.enum(['off', 'immediate']).default('off'),
    })
    .default({ terminated: 'off' }),
});
export type ClusterSettings = z.output<typeof clusterSettingsSchema>;
export type ClusterSettingsInput = z.input<typeof clusterSettingsSchema>;
