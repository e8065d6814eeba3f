{#-
  Incremental strategy per engine, overridable with --vars '{"incremental_strategy": ...}'.
    duckdb: delete+insert (with unique_key, plus the delete_partition_window pre-hook)
    spark : insert_overwrite, with partition_by=flight_date and file_format parquet/delta;
            dbt-spark overwrites exactly the flight_date partitions the run produces
            (dynamic partition overwrite), so the window is replaced atomically.
-#}
{% macro incremental_strategy() -%}
    {%- set override = var('incremental_strategy', none) -%}
    {%- if override -%}
        {{ return(override) }}
    {%- endif -%}
    {{ return(adapter.dispatch('incremental_strategy', 'mlops_assets')()) }}
{%- endmacro %}

{% macro default__incremental_strategy() -%}
    {{ return('delete+insert') }}
{%- endmacro %}

{% macro spark__incremental_strategy() -%}
    {{ return('insert_overwrite') }}
{%- endmacro %}

{#- partition_by for engines whose tables are physically partitioned (Spark); none elsewhere. -#}
{% macro incremental_partition_by(column) -%}
    {%- if target.type in ('spark', 'databricks') -%}
        {{ return([column]) }}
    {%- endif -%}
    {{ return(none) }}
{%- endmacro %}
