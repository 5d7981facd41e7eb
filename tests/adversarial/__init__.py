"""The adversarial suite of issue 7: a hostile pull request cannot break, fool or abuse the gate."""
