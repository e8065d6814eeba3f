{#-
  Expressions whose SQL differs between DuckDB and Spark. Everything else in the
  models uses dbt's cross-database macros (dbt.dateadd, dbt.date_trunc, dbt.date_part,
  dbt.concat, dbt.cast, dbt.type_*).
-#}

{#- a DATE from integer year, month, day columns -#}
{% macro date_from_parts(year, month, day) -%}
    {{ return(adapter.dispatch('date_from_parts', 'mlops_assets')(year, month, day)) }}
{%- endmacro %}

{% macro default__date_from_parts(year, month, day) -%}
    cast(
        {{ dbt.concat([
            dbt.cast(year, dbt.type_string()), "'-'",
            "lpad(" ~ dbt.cast(month, dbt.type_string()) ~ ", 2, '0')", "'-'",
            "lpad(" ~ dbt.cast(day, dbt.type_string()) ~ ", 2, '0')"
        ]) }} as date)
{%- endmacro %}

{% macro duckdb__date_from_parts(year, month, day) -%}
    make_date(cast({{ year }} as integer), cast({{ month }} as integer), cast({{ day }} as integer))
{%- endmacro %}

{% macro spark__date_from_parts(year, month, day) -%}
    make_date({{ year }}, {{ month }}, {{ day }})
{%- endmacro %}

{#- a TIMESTAMP from a DATE plus whole hours and minutes (local wall-clock time) -#}
{% macro timestamp_from_date_hour_minute(date, hour, minute) -%}
    {{ return(adapter.dispatch('timestamp_from_date_hour_minute', 'mlops_assets')(date, hour, minute)) }}
{%- endmacro %}

{% macro default__timestamp_from_date_hour_minute(date, hour, minute) -%}
    {{ dbt.dateadd('minute', '(' ~ hour ~ ') * 60 + (' ~ minute ~ ')', dbt.cast(date, dbt.type_timestamp())) }}
{%- endmacro %}

{% macro duckdb__timestamp_from_date_hour_minute(date, hour, minute) -%}
    (cast({{ date }} as timestamp) + to_minutes(cast(({{ hour }}) * 60 + ({{ minute }}) as bigint)))
{%- endmacro %}

{% macro spark__timestamp_from_date_hour_minute(date, hour, minute) -%}
    {#- wall-clock fields, no session-time-zone arithmetic (run Spark with spark.sql.session.timeZone=UTC) -#}
    make_timestamp(year({{ date }}), month({{ date }}), dayofmonth({{ date }}), {{ hour }}, {{ minute }}, 0)
{%- endmacro %}

{#- day of week, 0 = Monday .. 6 = Sunday (the features' convention, like pandas) -#}
{% macro day_of_week(date) -%}
    {{ return(adapter.dispatch('day_of_week', 'mlops_assets')(date)) }}
{%- endmacro %}

{% macro default__day_of_week(date) -%}
    cast(extract(isodow from {{ date }}) - 1 as integer)
{%- endmacro %}

{% macro duckdb__day_of_week(date) -%}
    cast(isodow({{ date }}) - 1 as integer)
{%- endmacro %}

{% macro spark__day_of_week(date) -%}
    weekday({{ date }})
{%- endmacro %}

{#- an integer field (year, month, day, hour, minute) of a date or timestamp -#}
{% macro date_part_int(datepart, expr) -%}
    {{ return(adapter.dispatch('date_part_int', 'mlops_assets')(datepart, expr)) }}
{%- endmacro %}

{% macro default__date_part_int(datepart, expr) -%}
    cast(extract({{ datepart }} from {{ expr }}) as integer)
{%- endmacro %}

{#- a DATE `days` days after `date` (negative: before). dbt-spark's dateadd goes through
    unix timestamps and yields NULL with spark.sql.timestampType=TIMESTAMP_NTZ. -#}
{% macro date_add_days(date, days) -%}
    {{ return(adapter.dispatch('date_add_days', 'mlops_assets')(date, days)) }}
{%- endmacro %}

{% macro default__date_add_days(date, days) -%}
    cast({{ dbt.dateadd('day', days, date) }} as date)
{%- endmacro %}

{% macro spark__date_add_days(date, days) -%}
    date_add({{ date }}, {{ days }})
{%- endmacro %}
