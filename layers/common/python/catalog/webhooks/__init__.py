"""Webhooks: endpoints, Standard Webhooks signing, URL safety, delivery, retries and the delivery log.

One concern per module:
- errors     what the context refuses (mapped to HTTP statuses by the API)
- signing    secrets and `webhook-*` headers per the Standard Webhooks specification
- urls       URL validation and SSRF checks (resolve, refuse private/loopback/link-local/metadata)
- schedule   the retry schedule (exponential, jittered, chained beyond SQS's 15-minute delay)
- sender     one bounded HTTP attempt (timeout, no redirects, bounded body, peer address re-checked)
- endpoints  the endpoint store (DynamoDB)
- log        delivery records (one per attempt, with TTL) and replayable delivery payloads
- fanout     events queue -> one delivery message per subscribed, enabled endpoint
- worker     one delivery message -> attempt, record, retry / dead-letter / disable
- delivery   a batch of delivery messages -> concurrent attempts, follow-ups sent in batches
- management URL checks before saving, Test, Replay

Settings come from `catalog.shared.settings` (`Settings.webhooks`).
"""
