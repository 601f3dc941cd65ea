"""The judgement corpus: every class of issue 11's verdicts, as one table over real environments."""
