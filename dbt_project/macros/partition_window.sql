{#-
  The partition window of a run, from dbt vars (Dagster passes them from the
  partition's time window):

      --vars '{"min_date": "2013-01-05", "max_date": "2013-01-06"}'

  min_date is inclusive, max_date exclusive, both ISO dates ('YYYY-MM-DD'; a
  datetime such as '2013-01-05T00:00:00+00:00' is accepted and cut to its date).
  Without both vars the window is "everything" (a developer's plain `dbt build`).
-#}

{% macro _window_date(name) -%}
    {%- set raw = var(name, none) -%}
    {%- if raw is none or (raw | string | trim) == '' -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set text = (raw | string | trim)[:10] -%}
    {%- set parsed = modules.datetime.datetime.strptime(text, '%Y-%m-%d') -%}
    {{ return(parsed.date()) }}
{%- endmacro %}

{#- (min_date, max_date) as datetime.date, or none when no window was given. -#}
{% macro partition_window() -%}
    {%- set lo = _window_date('min_date') -%}
    {%- set hi = _window_date('max_date') -%}
    {%- if lo is none and hi is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- if lo is none or hi is none -%}
        {{ exceptions.raise_compiler_error(
            "give both vars min_date and max_date (got min_date=" ~ var('min_date', none)
            ~ ", max_date=" ~ var('max_date', none) ~ ")") }}
    {%- endif -%}
    {%- if hi <= lo -%}
        {{ exceptions.raise_compiler_error(
            "empty partition window: max_date " ~ hi ~ " must be after min_date " ~ lo) }}
    {%- endif -%}
    {{ return((lo, hi)) }}
{%- endmacro %}

{% macro date_literal(d) -%}
    cast('{{ d.strftime("%Y-%m-%d") }}' as date)
{%- endmacro %}

{#-
  SQL predicate: `column` in [min_date, max_date) shifted by `lookback_days`
  at the start and `end_offset_days` at the end. `1 = 1` without a window.
  Example: history the window needs for a 28-day lookback that stops the day
  before:  partition_window_filter('flight_date', lookback_days=28, end_offset_days=-1)
  -> flight_date >= min_date - 28 and flight_date < max_date - 1.
-#}
{% macro partition_window_filter(column, lookback_days=0, end_offset_days=0) -%}
    {%- set window = partition_window() -%}
    {%- if window is none -%}
        1 = 1
    {%- else -%}
        {%- set delta = modules.datetime.timedelta -%}
        {%- set lo = window[0] - delta(days=lookback_days) -%}
        {%- set hi = window[1] + delta(days=end_offset_days) -%}
        ({{ column }} >= {{ date_literal(lo) }} and {{ column }} < {{ date_literal(hi) }})
    {%- endif -%}
{%- endmacro %}

{#-
  Pre-hook of the incremental models: inside the model's transaction, delete the
  rows of the window before delete+insert writes them again, so rows that are no
  longer in the source (a re-landed day with fewer flights) do not linger.
  Without vars it deletes every row: a plain `dbt build` rebuilds everything.
  On Spark, insert_overwrite replaces the window's partitions itself: no-op.
-#}
{% macro delete_partition_window(relation, column) -%}
    {{ return(adapter.dispatch('delete_partition_window', 'mlops_assets')(relation, column)) }}
{%- endmacro %}

{% macro default__delete_partition_window(relation, column) -%}
    {%- if is_incremental() -%}
        delete from {{ relation }} where {{ partition_window_filter(column) }}
    {%- endif -%}
{%- endmacro %}

{% macro spark__delete_partition_window(relation, column) -%}
{%- endmacro %}
