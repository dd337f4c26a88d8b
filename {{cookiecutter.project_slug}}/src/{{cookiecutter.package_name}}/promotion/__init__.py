"""Stage: deciding whether the challenger replaces the champion, and moving the aliases.

In: the paired champion and challenger answers of the prediction log, with their labels (a
multiclass model's: every class's probability, compared on macro F1).
Out: a decision with its evidence (on the model version and in the monitoring history) and,
when applied, an alias move. `shadow_statistics` (the paired comparison, overall and per
segment) finds a `shadow_evidence.ShadowEvidence`; `shadow_steps` are the shadow-evaluation
flow's steps; `aliases` promotes, rejects and rolls back, with guard rails; `card_view` prints a version's
model card with the verdicts recorded on it since registration.
"""
