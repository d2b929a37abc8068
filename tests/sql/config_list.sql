-- config_list
SELECT key, value FROM config
