"""Webhooks: endpoints, Standard Webhooks signing, URL safety, delivery, retries and the delivery log.

One concern per module:
- config     settings read from the environment the template sets
- signing    secrets and `webhook-*` headers per the Standard Webhooks specification
- urls       URL validation and SSRF checks (resolve, refuse private/loopback/link-local/metadata)
- schedule   the retry schedule (exponential, jittered, chained beyond SQS's 15-minute delay)
- http       one bounded HTTP attempt (timeout, no redirects, bounded body, peer address re-checked)
- endpoints  the endpoint store (DynamoDB)
- log        delivery records (one per attempt, with TTL) and replayable delivery payloads
- fanout     events queue -> one delivery message per subscribed, enabled endpoint
- worker     one delivery message -> attempt, record, retry / dead-letter / disable
"""
