"""The flow engine: plain modules, one responsibility each, in folders named by what happens there
(see README "Code map", which a test keeps in step with this tree):

- entering/  who is proposed to a flow and who may enter it;
- running/   moving people through a flow: runner, batches, participant state, a flow's life;
- steps/     doing a step, one module per family of step types;
- sending/   what leaves the site: Email Queue rows, SMTP, SMS, webhooks, their limits and outcomes;
- measuring/ goals, tracking, A/B variants, key figures;
- queries/   questions asked of the host's records (filters, segments, success criteria);
- hosts/     the host apps' doctypes: which plays which role, people, companies, record fields.

Leaves used everywhere stay here: doctypes (types), names, log, permissions, bulk, until_commit."""
