"""Stage: deciding whether the challenger replaces the champion, and moving the aliases.

In: the paired champion and challenger answers of the prediction log (replay: the champion's
answers and the challenger's bundle), with their labels (a multiclass model's: every class's
probability, compared on macro F1).
Out: a decision with its evidence (on the model version and in the monitoring history) and,
when applied, an alias move. `shadow_statistics` (the paired comparison, overall and per
segment) finds a `shadow_evidence.ShadowEvidence`; `shadow_steps` are the shadow-evaluation
flow's steps; `replay` scores a new challenger offline on the champion's logged, labelled
requests and judges it by the same statistics (better, worse, not enough evidence; the
training flow's `replay-challenger` step takes a worse one out of shadow); `aliases`
promotes, rejects and rolls back, with guard rails (and settles a move a killed process left
half done: `recover`); `canary_steps` start a canary (shadow's promotion with
`canary.enabled`), read its window and roll it back or complete the promotion, judged by
`canary_guards` (error rate, p99 latency, score PSI, realized metric; unpaired);
`card_view` prints a version's model card with the verdicts recorded on it since registration.
"""
