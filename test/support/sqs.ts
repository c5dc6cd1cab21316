import { ReceiveMessageCommand, type Message, type SQSClient } from '@aws-sdk/client-sqs';

/**
 * Every message a queue holds now, with its attributes: received until a receive comes back empty
 * (so each stays hidden for the queue's visibility timeout).
 */
export async function receiveAll(client: SQSClient, queueUrl: string): Promise<Message[]> {
  const messages: Message[] = [];
  for (;;) {
    const out = await client.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        MessageAttributeNames: ['All'],
        WaitTimeSeconds: 0,
      }),
    );
    if (!out.Messages?.length) return messages;
    messages.push(...out.Messages);
  }
}
