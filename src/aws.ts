/** Where AWS calls go: AWS itself, or an AWS-compatible endpoint on this side (LocalStack, fauxqs). */
export interface AwsEndpoint {
  region: string;
  /** a compatible endpoint; those accept any credentials */
  endpoint?: string;
}

/** Credentials for a compatible endpoint, which checks none. */
const LOCAL_CREDENTIALS = { accessKeyId: 'kjl-local', secretAccessKey: 'kjl-local' };

/**
 * AWS client settings for an endpoint: AWS's default credential chain for AWS itself, placeholder
 * credentials for a compatible endpoint (so `kjl dev` and the tests need no AWS identity).
 */
export function awsClientSettings({ region, endpoint }: AwsEndpoint) {
  return { region, ...(endpoint ? { endpoint, credentials: LOCAL_CREDENTIALS } : {}) };
}
