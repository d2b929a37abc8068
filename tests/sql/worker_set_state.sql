-- worker_set_state
UPDATE workers SET state = %(state)s WHERE id = %(id)s
