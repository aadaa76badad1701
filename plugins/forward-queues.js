'use strict';
/**
 * Forwarding's queues, one pair per destination (docs/forwarding.md), generated at package time from the
 * resolved `forwardDestinations` stage parameter (custom.forwardQueues in serverless.yml).
 *
 * For each destination NAME it adds:
 * - `{queueNamePrefix}NAME.fifo`, the FIFO queue every entry point queues NAME's notifications on (one message
 *   group per resource), with a redrive policy to
 * - `{queueNamePrefix}NAME-dlq.fifo`, its FIFO dead-letter queue;
 *   both kept when NAME leaves the list or a deploy would replace them (DeletionPolicy and UpdateReplacePolicy
 *   Retain: messages may be waiting in them; docs/forwarding.md, "Removing a destination");
 * - the forward function's SQS event source on the queue, its MaximumConcurrency the destination's
 *   `concurrency` (else forwardConcurrency): each destination's share of sandboxes is its own;
 * - two alarms: dead letters (>= 1 on its dead-letter queue) and age (the oldest waiting message, 3 periods of
 *   5 minutes at or above forwardAgeAlarmSeconds), each naming NAME and its runbook section;
 * - IAM: sqs:SendMessage on the queues (not their dead-letter queues) for every role in `enqueueRoles`; for the
 *   forward function's role, consuming the queues and sendMessage to the dead-letter queues.
 * With no destinations it adds nothing: no queues, no event source.
 *
 * A destination's name must pass the same rules as lib/forward/names.py's (tests/forward/test_queue_names.py
 * holds them together); packaging fails with one line naming the destination otherwise. Logical ids are
 * derived from the name alone (reordering the list changes nothing) and injectively: see logicalSuffix.
 */

const NAME_PATTERN = /^[A-Za-z0-9_-]{1,40}$/;
const DEAD_LETTER_SUFFIX = '-dlq';
const DEAD_LETTER_WORD = 'dlq'; // no name has it as a word: see lib/forward/names.py
const FIFO = '.fifo';
const MAX_QUEUE_NAME = 80; // SQS's limit, .fifo included

/** Why `name` cannot name a destination (null: it can), as lib/forward/names.py name_problem says it. */
function nameProblem(name, prefixName) {
  if (typeof name !== 'string' || !NAME_PATTERN.test(name)) return 'letters, digits, - and _ only, 1 to 40 of them';
  if (name.toLowerCase().split(/[-_]/).includes(DEAD_LETTER_WORD)) {
    return (
      `must not have ${DEAD_LETTER_WORD} as a word (-${DEAD_LETTER_WORD} marks the dead-letter queues, ` +
      'and the dashboard tells them apart by it)'
    );
  }
  if (prefixName !== undefined) {
    const longest = `${prefixName}${name}${DEAD_LETTER_SUFFIX}${FIFO}`;
    if (longest.length > MAX_QUEUE_NAME) {
      return (
        `its dead-letter queue's name ${longest} has ${longest.length} characters, more than SQS's ` +
        `${MAX_QUEUE_NAME}: use a shorter name`
      );
    }
  }
  return null;
}

/**
 * A CloudFormation-safe (alphanumeric) rendering of a destination's name, one to one: letters and 1-9 stay,
 * `0` is `00`, `-` is `0D`, `_` is `0U` (so `my-app` and `my_app`, `myapp`, `my0Dapp` all differ).
 */
function logicalSuffix(name) {
  return name.replace(/[0_-]/g, (c) => ({ 0: '00', '-': '0D', _: '0U' })[c]);
}

/**
 * A concurrency (2 to 1000) as lib/forward/config.py's pydantic model takes it, or null: a JSON whole number,
 * or a string of digits (an optional sign, an optional .0). Number() alone would take '0x10', '1e1' and [5],
 * which the functions refuse at cold start: a package that deploys must start.
 */
function concurrencyOf(value) {
  let number = null;
  if (typeof value === 'number') number = value;
  else if (typeof value === 'string' && /^\s*\+?\d+(\.0*)?\s*$/.test(value)) number = Number(value);
  return Number.isInteger(number) && number >= 2 && number <= 1000 ? number : null;
}

function parseDestinations(text) {
  const trimmed = typeof text === 'string' ? text.trim() : text;
  if (trimmed === undefined || trimmed === null || trimmed === '') return [];
  let list = trimmed;
  if (typeof trimmed === 'string') {
    try {
      list = JSON.parse(trimmed);
    } catch (error) {
      throw new Error(`forwardDestinations: a JSON list of destinations expected (${error.message})`);
    }
  }
  if (!Array.isArray(list)) throw new Error('forwardDestinations: a JSON list of destinations expected');
  return list;
}

/** The resources, event sources and statements for these destinations (pure: the tests call it too). */
function forwardingResources(destinations, config) {
  const { queueNamePrefix, concurrency, ageAlarmSeconds, alarmsTopic } = config;
  const seen = new Set();
  const resources = {};
  const events = [];
  const queueArns = [];
  const deadLetterArns = [];
  destinations.forEach((destination, index) => {
    const name = destination && destination.name;
    const problem = nameProblem(name, queueNamePrefix);
    if (problem) {
      throw new Error(`forwardDestinations: destination ${JSON.stringify(name ?? `#${index}`)}: ${problem}`);
    }
    if (seen.has(name)) throw new Error(`forwardDestinations: destination ${name} is listed twice: names must be unique`);
    seen.add(name);
    const given = destination.concurrency !== undefined && destination.concurrency !== null;
    const own = concurrencyOf(given ? destination.concurrency : concurrency);
    if (own === null) {
      throw new Error(given
        ? `forwardDestinations: destination ${name}: concurrency must be a whole number from 2 to 1000`
        : `forwardConcurrency: a whole number from 2 to 1000 expected, got ${JSON.stringify(concurrency)}`);
    }
    const suffix = logicalSuffix(name);
    const queue = `ForwardQueue${suffix}`;
    const deadLetterQueue = `ForwardDeadLetterQueue${suffix}`;
    const retained = { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' };
    resources[queue] = {
      Type: 'AWS::SQS::Queue',
      ...retained,
      Properties: {
        // FIFO: one group per resource keeps a resource's notifications in order.
        QueueName: `${queueNamePrefix}${name}${FIFO}`,
        FifoQueue: true,
        DeduplicationScope: 'messageGroup',
        FifoThroughputLimit: 'perMessageGroupId',
        VisibilityTimeout: 360, // six times the forward function's timeout, as AWS advises
        MessageRetentionPeriod: 1209600, // 14 days: longer than any destination's max age
        SqsManagedSseEnabled: true,
        // A safety net only (a message the function cannot even read): retries and dead letters are the
        // function's, up to the destination's max age, so this count is far above any retry schedule.
        RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [deadLetterQueue, 'Arn'] }, maxReceiveCount: 1000 },
      },
    };
    resources[deadLetterQueue] = {
      Type: 'AWS::SQS::Queue',
      ...retained,
      Properties: {
        QueueName: `${queueNamePrefix}${name}${DEAD_LETTER_SUFFIX}${FIFO}`,
        FifoQueue: true,
        MessageRetentionPeriod: 1209600,
        SqsManagedSseEnabled: true,
      },
    };
    const alarm = (description, metric, queueId, extra) => ({
      Type: 'AWS::CloudWatch::Alarm',
      Properties: {
        AlarmDescription: description,
        Namespace: 'AWS/SQS',
        MetricName: metric,
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId, 'QueueName'] } }],
        Statistic: 'Maximum',
        Period: 300,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
        AlarmActions: [{ Ref: alarmsTopic }],
        ...extra,
      },
    });
    resources[`ForwardDeadLettersAlarm${suffix}`] = alarm(
      `notifications could not be delivered to destination ${name} and wait in its dead-letter queue. ` +
        'Runbook: docs/operations/runbook.md#forwarddeadlettersalarm',
      'ApproximateNumberOfMessagesVisible', deadLetterQueue, { EvaluationPeriods: 1, Threshold: 1 });
    resources[`ForwardAgeAlarm${suffix}`] = alarm(
      `a notification has waited for delivery to destination ${name} longer than forwardAgeAlarmSeconds: it is ` +
        'down or slow. Runbook: docs/operations/runbook.md#forwardagealarm',
      'ApproximateAgeOfOldestMessage', queue,
      { EvaluationPeriods: 3, DatapointsToAlarm: 3, Threshold: Number(ageAlarmSeconds) });
    events.push({
      sqs: {
        arn: { 'Fn::GetAtt': [queue, 'Arn'] },
        batchSize: 10,
        functionResponseType: 'ReportBatchItemFailures',
        maximumConcurrency: own,
      },
    });
    queueArns.push({ 'Fn::GetAtt': [queue, 'Arn'] });
    deadLetterArns.push({ 'Fn::GetAtt': [deadLetterQueue, 'Arn'] });
  });
  const statements = { enqueue: [], forward: [] };
  if (queueArns.length) {
    // every entry point queues on the destinations' queues: never on their dead-letter queues
    statements.enqueue.push({ Effect: 'Allow', Action: 'sqs:SendMessage', Resource: queueArns });
    statements.forward.push(
      {
        Effect: 'Allow',
        Action: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:GetQueueAttributes'],
        Resource: queueArns,
      },
      { Effect: 'Allow', Action: 'sqs:SendMessage', Resource: deadLetterArns }
    );
  }
  return { resources, events, statements };
}

class ForwardQueues {
  constructor(serverless, options, { log } = {}) {
    this.serverless = serverless;
    this.log = log || { notice: (m) => serverless.cli.log(m), info: () => {} };
    // Before the SQS events are compiled (package:compileEvents), on every package and deploy.
    this.hooks = { 'before:package:compileEvents': () => this.add() };
  }

  add() {
    const service = this.serverless.service;
    const config = (service.custom || {}).forwardQueues;
    if (!config) throw new this.serverless.classes.Error('custom.forwardQueues is missing (plugins/forward-queues.js)');
    let built;
    try {
      built = forwardingResources(parseDestinations(config.destinations), config);
    } catch (error) {
      throw new this.serverless.classes.Error(error.message, 'MEDIAHOOK_FORWARD_DESTINATIONS');
    }
    const { resources, events, statements } = built;
    if (!events.length) return;
    service.resources = service.resources || {};
    service.resources.Resources = service.resources.Resources || {};
    const existing = service.resources.Resources;
    for (const [id, resource] of Object.entries(resources)) {
      if (existing[id]) throw new this.serverless.classes.Error(`forwardDestinations: resource ${id} exists already`);
      existing[id] = resource;
    }
    const fn = service.getFunction(config.function);
    fn.events = [...(fn.events || []), ...events];
    const policy = (roleId) => {
      const role = existing[roleId];
      if (!role) throw new this.serverless.classes.Error(`custom.forwardQueues: no role ${roleId} in resources`);
      return role.Properties.Policies[0].PolicyDocument.Statement;
    };
    for (const roleId of config.enqueueRoles) policy(roleId).push(...statements.enqueue);
    policy(config.role).push(...statements.forward);
    this.log.info(`Forwarding: ${events.length} destination queue pairs`);
  }
}

module.exports = ForwardQueues;
module.exports.nameProblem = nameProblem;
module.exports.logicalSuffix = logicalSuffix;
module.exports.forwardingResources = forwardingResources;
module.exports.concurrencyOf = concurrencyOf;
