-- Form field ids whose answers a gate's verdict screen shows (a diet at the dinner gate).
alter table gates add column show_answers text[] not null default '{}';
