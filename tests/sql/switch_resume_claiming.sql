-- switch_resume_claiming
DELETE FROM switches WHERE name = 'claiming'
