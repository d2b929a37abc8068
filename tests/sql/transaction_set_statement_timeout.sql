-- transaction_set_statement_timeout
SELECT set_config('statement_timeout', %(ms)s, true)
